impl :: bincode :: Encode for HistoryLog
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.size, encoder) ?; :: bincode ::
        Encode :: encode(&self.frontier, encoder) ?; core :: result :: Result
        :: Ok(())
    }
}