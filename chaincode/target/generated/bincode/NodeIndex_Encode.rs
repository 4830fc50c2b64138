impl :: bincode :: Encode for NodeIndex
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.level, encoder) ?; :: bincode ::
        Encode :: encode(&self.index, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}