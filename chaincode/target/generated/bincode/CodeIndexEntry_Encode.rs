impl :: bincode :: Encode for CodeIndexEntry
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.pool, encoder) ?; :: bincode ::
        Encode :: encode(&self.serial, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}