impl :: bincode :: Encode for Rejection
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.reason, encoder) ?; :: bincode ::
        Encode :: encode(&self.message, encoder) ?; core :: result :: Result
        :: Ok(())
    }
}